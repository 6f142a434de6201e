"""Indonesian or English, from the sender's own words.

Counting common function words is enough for two languages this different,
and it copes with chat slang mixed with English ("min ini akun open BO ganggu
bgt, pls ban" is Indonesian): the slang abbreviations are in the lists too.
The lists are code, not config: they describe the languages, not the platform.
"""

from __future__ import annotations

from itertools import repeat

from .category import tokenize

_ID = frozenset("""
yang dan di ke dari ini itu saya aku sy gue gw kamu anda dia ia mereka kami kita nya
tidak tak nggak gak ga enggak engga bukan sudah udah sdh belum blm akan ada untuk utk buat
dengan dgn atau juga karena krn tapi tetapi namun jika kalau kalo mohon tolong terima kasih
makasih selamat pagi siang sore malam mau ingin bisa harus sama lagi masih terus ya yg
apa bagaimana gimana kenapa mengapa pak bu kak mas mbak min bgt banget aja saja sih dong
kok deh lho tsb tersebut sangat sekali pun oleh pada dalam kepada bahwa agar supaya hanya
cuma sering selalu sekarang kemarin tadi nanti akun laporan lapor melaporkan pesan kirim
mengirim dikirim ditindak diblokir segera hormat salam halo hai caranya cara lupa sandi
semua grup bagi seperti ketika saat setelah sebelum sampai hari baru lama sedang lewat
""".split())

_EN = frozenset("""
the a an and or but is are was were be been being am i me my mine you your yours he him his
she her it its they them their we us our this that these those to of in on for with from
at by as not no yes please pls thanks thank hi hello dear regards best sincerely would could
should will can do does did have has had just also very what which who whom when where why
how there here about into after before because if then than so some any all account accounts
report reporting reported user sent sending keeps asked asking want like someone since still
again today yesterday message messages email attached attachment profile help investigate
""".split())


# +1 per Indonesian word, -1 per English one: the sign of the sum decides,
# in one pass over the tokens.
_WEIGHT = {w: (w in _ID) - (w in _EN) for w in _ID | _EN}


def detect_language(texts: list[str]) -> str | None:
    """"id", "en", or None when no telling word occurs (or the counts tie)."""
    return detect_language_tokens([tokenize(t) for t in texts if t])


def detect_language_tokens(token_lists: list[list[str]]) -> str | None:
    """detect_language() on texts already split by tokenize()."""
    lead = sum(sum(map(_WEIGHT.get, toks, repeat(0))) for toks in token_lists)
    if lead == 0:
        return None
    return "id" if lead > 0 else "en"
