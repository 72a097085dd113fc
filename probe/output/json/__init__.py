"""The ``--json`` format: what a program reads, one module per result kind.

Every document goes through ``writer`` (exactly ``json.dumps(data, indent=2)``, streamed where
a list can be 65535 items long); ``common`` holds the pieces several kinds share. Inside this
package ``import json`` is absolute (Python 3), so the standard library is what it gets.
"""
