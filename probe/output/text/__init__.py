"""The text format: what a person reads in the terminal, one module per result kind.

``pen`` holds what they share (glyphs, styles, escaping of network text, hanging lines, the
finding block). Everything here is written with rich, which is imported only when a text
result is rendered (the registry loads these modules on demand), so ``probe --help`` never
pays for it.
"""
