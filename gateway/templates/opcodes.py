"""Instruction set of compiled templates (shared by the compiler and both executors).

A program is a tuple of statements. A statement is either a `str` (literal text) or a tuple whose first item is
one of the S_* codes below; an expression is a tuple whose first item is an X_* code. Programs hold only data:
strings, numbers, tuples, dicts of sub-programs and references to the helper functions of
:mod:`gateway.templates.helpers` resolved at compile time. The executors repeat these numbers as literals (Cython
needs them at compile time); `tests/unit/test_templates_exec.py` checks the three places agree.

Statements
    (S_OUT1, key, escape)                           {{key}}: one-segment lookup in the current context
    (S_OUT, expr, escape)                           {{expr}} / {{{expr}}}
    (S_IF, expr, program, inverse, include_zero)    #if (and #unless, with the programs swapped)
    (S_PRED, pred, params, hash, program, inverse)   conditional block helper (#eq, #and, …)
    (S_EACH, expr, program, inverse, nbp, uses_data)   #each (capped at EACH_LIMIT items, as Pinpoint does);
                                                    uses_data False: the body never reads @data, skip frames
    (S_WITH, expr, program, inverse, nbp)           #with
    (S_SECTION, expr, program, inverse)             {{#name}} / {{^name}} on a context value (Mustache section)
    (S_PARTIAL, name, ctx_expr|None, hash|None, indent)   {{> name}}
    (S_DEFS, {name: program})                       inline partials of this program ({{#*inline}}), first op
Expressions
    (X_LIT, value)
    (X_PATH, depth, parts)                          context path; depth counts ../
    (X_DATA, depth, parts)                          @data path
    (X_BP, depth, index, parts)                     block parameter (as |x y|), then further segments
    (X_CALL, fn, params, hash, name)                value helper; params a tuple of expressions, hash a tuple of
                                                    (key, expression) or None
    (X_PRED, pred, params, hash, name)              conditional helper used inline: renders hash yes/no
    (X_OR_TEXT, expr, text)                         expr, or the literal text when expr resolves to nothing
"""

from __future__ import annotations

from typing import Final

S_OUT1: Final = 1
S_OUT: Final = 2
S_IF: Final = 3
S_PRED: Final = 4
S_EACH: Final = 5
S_WITH: Final = 6
S_SECTION: Final = 7
S_PARTIAL: Final = 8
S_DEFS: Final = 9

X_LIT: Final = 20
X_PATH: Final = 21
X_DATA: Final = 22
X_BP: Final = 23
X_CALL: Final = 24
X_PRED: Final = 25
X_OR_TEXT: Final = 26

#: Pinpoint renders at most this many items of a list in {{#each}} (message-template-helpers.md).
EACH_LIMIT: Final = 15
