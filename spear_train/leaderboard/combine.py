"""One leaderboard row from several single-seed results (``spear-bench run`` writes one per seed).

:func:`combine_results` joins results that played the same setting with the same method, model and
preset into one document whose ``seeds`` are theirs in the given order; the metrics are recomputed from
the episode records (so the row verifies exactly like each part), the wall time is the sum, and the
config is the first part's with ``seeds`` set to all of them.
"""

from __future__ import annotations

from typing import Sequence

from spear_train.leaderboard.schema import Result, build_result


def combine_results(parts: Sequence[Result], *, description: str | None = None) -> Result:
    """The results in ``parts`` (one or more seeds each, no seed twice) as one document."""
    if not parts:
        raise ValueError("no results to combine")
    first = parts[0]
    for part in parts[1:]:
        for field in ("method", "preset"):
            if getattr(part, field) != getattr(first, field):
                raise ValueError(f"cannot combine results with different {field}: "
                                 f"{getattr(first, field)!r} and {getattr(part, field)!r}")
        if part.model.name != first.model.name:
            raise ValueError(f"cannot combine results of different models: {first.model.name!r} and {part.model.name!r}")
        if (part.env.id, part.env.version, part.env.kwargs) != (first.env.id, first.env.version, first.env.kwargs):
            raise ValueError("cannot combine results made with different env settings")
    records = {}
    for part in parts:
        for seed, recs in part.records().items():
            if seed in records:
                raise ValueError(f"seed {seed} appears in more than one result")
            records[seed] = recs
    return build_result(
        records, method=first.method, model=first.model, preset=first.preset,
        wall_time_s=sum(p.wall_time_s for p in parts), config={**first.config, "seeds": list(records)},
        description=first.description if description is None else description,
        data_fingerprint=first.env.data_fingerprint, hardware=first.hardware, created_at=max(p.created_at for p in parts),
    )
