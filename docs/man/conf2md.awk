# Turns the commented config (systemd/nusad.conf) into the Markdown body of
# nusad.conf(5): the opening comment becomes the description, each key's
# comment a subsection named after the key, and the lines of the file
# itself (set or commented out) a literal example under it. The config
# file stays the one place where keys are explained.

function flush_example() {
	if (nex > 0) {
		print ""
		for (i = 1; i <= nex; i++)
			print "    " ex[i]
		print ""
		nex = 0
	}
}

# A comment line: the text after "# " or "#".
function text(line) {
	sub(/^#[ ]?/, "", line)
	return line
}

NR == 1 { next }			# "# /etc/nusa/nusad.conf: ..." is the title
/^\[nusad\]/ {
	in_keys = 1
	print ""
	print "# KEYS"
	print ""
	next
}
!in_keys {
	t = text($0)
	if (t ~ /^[A-Z][a-z ]+:$/) {	# "How the file is read:"
		print ""
		print "**" substr(t, 1, length(t) - 1) "**"
		print ""
		next
	}
	print t
	next
}
# "# key: what it is" opens a key's subsection.
/^# [a-z_]+: / {
	flush_example()
	key = $2
	sub(/:$/, "", key)
	print ""
	print "## " key
	print ""
	t = text($0)
	sub(/^[a-z_]+: /, "", t)
	print t
	next
}
# Commented-out settings ("#peers =", "#\tID@tcp://...") and settings.
/^#[^ ]/ || /^[a-z_]+[ ]*=/ || /^[ \t]/ {
	ex[++nex] = $0
	next
}
/^#/ {
	t = text($0)
	if (t ~ /^(Default|Required|Allowed|Example)/)
		print ""
	print t
	next
}
/^$/ { flush_example(); next }
END { flush_example() }
