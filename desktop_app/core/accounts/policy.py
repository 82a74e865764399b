"""What makes a password (or a PIN) acceptable: the checks run on every NEW secret, never on the
way in (a login only compares).

Passwords (accounts):

- at least :data:`MIN_PASSWORD` (10) characters, at most :data:`MAX_PASSWORD`; no control characters;
- at least 5 different characters (refuses ``aaaaaaaaaa``, ``1212121212``, ``abcabcabca``);
- not made of runs: a password is cut into runs of characters that repeat, count up or down
  (``abcd``, ``4321``) or follow a keyboard row (``qwerty``, ``asdf``); each run counts at most 2,
  and the sum must reach 6 (refuses ``abcdefgh12``, ``qwertyuiop``, ``1234567890``);
- not a common password or a common word dressed up: the letters left once digits and symbols are
  cut from both ends, with the usual substitutions undone (``P@ssw0rd2024!`` is ``password``), must
  not be in :data:`COMMON_WORDS`;
- not built on the account's name (or "facegate"), forwards or backwards.

PINs (only the legacy admin PIN of databases without accounts): 6 to 32 digits for a new PIN, and
not one of the patterns guessed first: one digit repeated, a repeated group (``121212``, ``808080``),
digits in steps (``123456``, ``246802``, ``135791``, ``987654``, wrapping past 9), a keypad line
(``258025``) or a common PIN (:data:`COMMON_PINS`).
"""

from __future__ import annotations

import itertools
import re
from typing import Final

MIN_PASSWORD: Final[int] = 10
MAX_PASSWORD: Final[int] = 256
#: fewest different characters in a password
MIN_DISTINCT: Final[int] = 5
#: least sum of run scores (each run of repeated / stepping / keyboard characters counts at most 2)
MIN_RUN_SCORE: Final[int] = 6
MIN_NEW_PIN: Final[int] = 6
MAX_PIN: Final[int] = 32


def _words(text: str) -> list[str]:
    return text.split()


_KEYBOARD_ROWS: Final[tuple[str, ...]] = (
    "`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",  # US
    "azertyuiop", "qsdfghjklm", "wxcvbn",  # French
    "qwertzuiop", "yxcvbnm",  # German
    "1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik,", "9ol.", "0p;/",  # columns
)

#: Base words of the most common passwords (after cutting digits and symbols and undoing
#: substitutions); a password whose letters are one of these is refused.
COMMON_WORDS: Final[frozenset[str]] = frozenset(_words("""
password passwort motdepasse contrasena senha parola wachtwoord haslo salasana passord
admin administrator root user guest login welcome letmein changeme secret default test tester
qwerty qwertz azerty asdf zxcvbnm iloveyou loveyou princess dragon monkey football baseball soccer
hockey basketball master shadow superman batman sunshine starwars whatever trustno freedom
michael jennifer jordan hunter ranger buster pepper ginger cookie cheese summer winter autumn
spring january february march april june july august september october november december
monday friday sunday hello charlie flower abc abcd abcdef abcdefg abcdefgh
facegate door access security office company computer internet
"""))

#: Common PINs of 6 digits or more beyond the patterns (keypad shapes, pairs, dates).
COMMON_PINS: Final[frozenset[str]] = frozenset(_words("""
112233 159753 147258 258369 369258 852456 456852 147852 102030 111222 112211 246810 753951
123321 654321 142536 131313 2580258 0852085 19841984 20002000
"""))

_LEET: Final = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                              "@": "a", "$": "s", "!": "i", "+": "t", "|": "l"})


def _step(a: str, b: str) -> bool:
    """``b`` repeats ``a``, follows it up or down by one, or sits next to it on a keyboard row."""
    if a == b or abs(ord(a) - ord(b)) == 1:
        return True
    pair = a + b
    return any(pair in row or pair in row[::-1] for row in _KEYBOARD_ROWS)


def run_score(text: str) -> int:
    """Sum over the maximal runs of stepping characters (see :func:`_step`, case-folded) of
    min(run length, 2): about how many independent choices the text holds."""
    low = text.lower()
    score, run = 0, 0
    for i, ch in enumerate(low):
        run = run + 1 if i and _step(low[i - 1], ch) else 1
        if run <= 2:
            score += 1
    return score


def _core_word(text: str) -> str:
    """The letters of ``text`` once digits and symbols are cut from both ends and common
    substitutions undone, lower case ("P@ssw0rd2024!" -> "password")."""
    low = text.lower()
    trimmed = re.sub(r"^[^a-z]+|[^a-z]+$", "", low) or low
    return re.sub(r"[^a-z]", "", trimmed.translate(_LEET))


def password_problem(password: str, account: str = "") -> str | None:
    """Why ``password`` may not become the password of ``account``, or None when it may."""
    if not isinstance(password, str) or not password:
        return "The password is empty."
    if len(password) < MIN_PASSWORD:
        return f"The password must have at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"The password must have at most {MAX_PASSWORD} characters."
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        return "The password must not contain control characters (tab, newline...)."
    if len(set(password.lower())) < MIN_DISTINCT:
        return f"The password repeats itself: use at least {MIN_DISTINCT} different characters."
    if run_score(password) < MIN_RUN_SCORE:
        return "The password is a sequence (abcd, 1234, qwerty, aaaa...): mix unrelated characters or words."
    low = password.lower()
    core = _core_word(password)
    if core in COMMON_WORDS or low in COMMON_WORDS or (len(core) >= 4 and core[::-1] in COMMON_WORDS):
        return "The password is one of the most common ones: choose one nobody would guess."
    for name in (account.strip().lower(), "facegate"):
        if len(name) >= 3 and (name in low or name[::-1] in low or name in core):
            return "The password must not contain the account's name." if name != "facegate" else \
                "The password must not contain the word FaceGate."
    return None


def _in_steps(pin: str) -> bool:
    """Each digit is the one before it plus the same step, modulo 10 (0 repeats; 1 counts up)."""
    step = (int(pin[1]) - int(pin[0])) % 10
    return all((int(b) - int(a)) % 10 == step for a, b in itertools.pairwise(pin))


def _repeats_group(pin: str) -> bool:
    n = len(pin)
    return any(n % k == 0 and pin == pin[:k] * (n // k) for k in range(1, n // 2 + 1))


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` may not become a new PIN, or None when it may (6-32 ASCII digits, no pattern)."""
    if not pin.isascii() or not pin.isdigit():
        return "The PIN must contain digits only."
    if len(pin) < MIN_NEW_PIN:
        return f"The PIN must have at least {MIN_NEW_PIN} digits."
    if len(pin) > MAX_PIN:
        return f"The PIN must have at most {MAX_PIN} digits."
    if _in_steps(pin) or _repeats_group(pin):
        return "The PIN is a pattern (111111, 123456, 121212, 135791...): choose digits without a pattern."
    if pin in COMMON_PINS or pin[:6] in COMMON_PINS:
        return "The PIN is one of the most common ones: choose one nobody would guess."
    return None
