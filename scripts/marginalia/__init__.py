"""GPT-2 Marginalia: pinned upstream code with critical margin notes.

The build is a pipeline of four stages, one module each, data flowing one way:

    manifest  -> sources  -> notes  -> pages  -> site
    (what to   (fetch and   (load and  (render   (write docs/code/,
     present)   verify)      check)     HTML)     run MkDocs)
"""
