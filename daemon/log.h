/* Logging to stderr with levels; journald adds the timestamps. The level
 * is checked before the arguments are formatted. */
#ifndef NUSA_LOG_H
#define NUSA_LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG
};

struct log {
	int level;		/* messages above it are dropped */
	const char *prefix;	/* "nusad", or a demo box's name */
};

void log_msg(const struct log *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(l, ...) log_msg((l), LOG_ERROR, __VA_ARGS__)
#define log_warn(l, ...)                                                  \
	do {                                                               \
		if ((l)->level >= LOG_WARN)                                \
			log_msg((l), LOG_WARN, __VA_ARGS__);              \
	} while (0)
#define log_info(l, ...)                                                  \
	do {                                                               \
		if ((l)->level >= LOG_INFO)                                \
			log_msg((l), LOG_INFO, __VA_ARGS__);              \
	} while (0)
#define log_debug(l, ...)                                                 \
	do {                                                               \
		if ((l)->level >= LOG_DEBUG)                               \
			log_msg((l), LOG_DEBUG, __VA_ARGS__);             \
	} while (0)

#endif
