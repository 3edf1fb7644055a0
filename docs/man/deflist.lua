-- pandoc filter for the man pages: a table of docs/cli.md becomes a list,
-- its first column the term and each other column a paragraph (titled by
-- its header from the third column on), which reads well at 80 columns
-- where a three-column table does not.
function Table(tbl)
  local s = pandoc.utils.to_simple_table(tbl)
  local items = {}
  for _, row in ipairs(s.rows) do
    local term = pandoc.utils.blocks_to_inlines(row[1])
    local blocks = {}
    for i = 2, #row do
      local cell = pandoc.utils.blocks_to_inlines(row[i])
      if #cell > 0 then
        if i > 2 then
          local head = pandoc.utils.stringify(s.headers[i])
          local label = head:sub(1, 1):upper() .. head:sub(2) .. ": "
          table.insert(cell, 1, pandoc.Emph({ pandoc.Str(label) }))
        end
        table.insert(blocks, pandoc.Para(cell))
      end
    end
    if #blocks == 0 then
      blocks = { pandoc.Para({}) }
    end
    table.insert(items, { term, { blocks } })
  end
  return pandoc.DefinitionList(items)
end
