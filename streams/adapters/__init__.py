"""Korea's public alert APIs → riskmon incidents (pure: bytes in, incidents and reasons out).

* :mod:`streams.adapters.mois` — 행정안전부 긴급재난문자 (safetydata.go.kr DSSP-IF-00247, and the
  retired data.go.kr 재난문자방송 발령현황 read for its reasons);
* :mod:`streams.adapters.kma` — 기상청 기상특보 조회서비스 (getWthrWrnMsg, JSON or XML).

``riskmon fetch-alerts`` (:mod:`streams.cli.adapters`) is the shell: a saved response in,
incidents as JSON lines out for ``riskmon publish``. docs/agencies.md has the field tables.
"""

from streams.adapters.common import (
    KST,
    AdapterRefused,
    Conversion,
    Jurisdiction,
    Lift,
    Reading,
    disaster_type,
)
from streams.adapters.kma import convert_kma
from streams.adapters.mois import convert_mois

__all__ = [
    "KST",
    "AdapterRefused",
    "Conversion",
    "Jurisdiction",
    "Lift",
    "Reading",
    "convert_kma",
    "convert_mois",
    "disaster_type",
]
