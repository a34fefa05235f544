"""`latent_chat_template`: a chat template that appends the K latent tokens to the last user
message exactly where training put them; `livr export` writes it, `livr eval` strips it again."""

from __future__ import annotations

from livr.errors import ConfigError


def latent_chat_template(template: str, latents: list[str], position: str) -> str:
    """`template` with a prelude that adds the latent tokens to the last user message.

    The prelude rebuilds `messages` (Jinja cannot mutate them): the last user message gets a text
    item holding the latent tokens after its content (`after`) or before its first text item
    (`before`); a plain-string content gets them appended or prepended. It emits no text itself.
    """
    if position not in ("after", "before"):
        raise ConfigError(f"latent_position must be after or before, got {position!r}")
    text = "".join(latents)
    before = "true" if position == "before" else "false"
    prelude = (
        "{%- set livr = namespace(msgs=[], last=-1, items=[], done=false) -%}"
        "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set livr.last = loop.index0 -%}"
        "{%- endif -%}{%- endfor -%}"
        "{%- for m in messages -%}"
        "{%- if loop.index0 != livr.last -%}{%- set livr.msgs = livr.msgs + [m] -%}"
        "{%- elif m['content'] is string -%}"
        f"{{%- set livr.msgs = livr.msgs + [{{'role': m['role'], 'content': "
        f"('{text}' ~ m['content']) if {before} else (m['content'] ~ '{text}')}}] -%}}"
        "{%- else -%}"
        "{%- set livr.items = [] -%}{%- set livr.done = false -%}"
        "{%- for c in m['content'] -%}"
        f"{{%- if {before} and not livr.done and c['type'] == 'text' -%}}"
        f"{{%- set livr.items = livr.items + [{{'type': 'text', 'text': '{text}'}}] -%}}"
        "{%- set livr.done = true -%}{%- endif -%}"
        "{%- set livr.items = livr.items + [c] -%}"
        "{%- endfor -%}"
        "{%- if not livr.done -%}"
        f"{{%- set livr.items = livr.items + [{{'type': 'text', 'text': '{text}'}}] -%}}"
        "{%- endif -%}"
        "{%- set livr.msgs = livr.msgs + [{'role': m['role'], 'content': livr.items}] -%}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- set messages = livr.msgs -%}"
    )
    return prelude + template
