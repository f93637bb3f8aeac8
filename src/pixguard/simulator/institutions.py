"""Real Pix participants (ISPB codes) with a rough market share, used to place accounts."""

from __future__ import annotations

import numpy as np

# (ISPB, institution, relative weight). Weights are illustrative, not official market shares.
INSTITUTIONS: list[tuple[str, str, float]] = [
    ("18236120", "Nu Pagamentos (Nubank)", 18.0),
    ("00000000", "Banco do Brasil", 11.0),
    ("00360305", "Caixa Economica Federal", 11.0),
    ("60701190", "Itau Unibanco", 10.0),
    ("60746948", "Banco Bradesco", 9.0),
    ("90400888", "Banco Santander (Brasil)", 7.0),
    ("00416968", "Banco Inter", 5.0),
    ("22896431", "PicPay", 4.0),
    ("10573521", "Mercado Pago", 4.0),
    ("31872495", "Banco C6", 3.0),
    ("08561701", "PagSeguro", 3.0),
    ("02038232", "Sicoob", 3.0),
    ("01181521", "Sicredi", 3.0),
    ("30306294", "Banco BTG Pactual", 2.0),
    ("92702067", "Banrisul", 2.0),
    ("59285411", "Banco Pan", 1.5),
    ("58160789", "Banco Safra", 1.0),
    ("16501555", "Stone Instituicao de Pagamento", 1.5),
    ("92894922", "Banco Original", 0.5),
    ("20855875", "Neon Pagamentos", 0.5),
]

ISPBS = np.array([ispb for ispb, _, _ in INSTITUTIONS], dtype=object)
ISPB_WEIGHTS = np.array([w for _, _, w in INSTITUTIONS]) / sum(w for _, _, w in INSTITUTIONS)
KNOWN_ISPBS = frozenset(ISPBS)
