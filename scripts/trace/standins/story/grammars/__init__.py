"""Stand-in for AI Dungeon's ``story/grammars`` package, which the site does not present.

AI Dungeon's own package fills story openings from Tracery grammars kept in JSON files, one
per setting. ``play.py`` needs only its two functions, ``generate`` and ``direct``; this
stand-in keeps their names and signatures and expands a tiny grammar of our own with the same
library (tracery), so ``play.py``'s curated-opening path runs as it would.
"""

import tracery
from tracery.modifiers import base_english

RULES = {
    "fantasy": {
        "character_name": ["Ada", "Brin"],
        "knight_context": ["You are <NAME>, a knight sworn to the #realm#. "],
        "knight_prompt": ["You ride through the #place# at dusk and see"],
        "realm": ["river kingdom"],
        "place": ["old forest", "empty village"],
    }
}


def _expand(setting, key):
    grammar = tracery.Grammar(RULES[setting])
    grammar.add_modifiers(base_english)
    return grammar.flatten("#{}#".format(key))


def generate(setting, character_type, key):
    return _expand(setting, "{}_{}".format(character_type, key))


def direct(setting, key):
    return _expand(setting, key)
