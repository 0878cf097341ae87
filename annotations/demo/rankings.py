"""The demo's ranking tasks: rankings alongside pairs on the demo pairwise project, with a
few simulated rankings (Plackett-Luce on the sources' demo strengths, by the Gumbel-max
construction) so the ranking results have data; the demo annotators still find tasks."""

from __future__ import annotations

import math
import random

from django.contrib.auth.models import AbstractBaseUser

from annotations.demo.data import SOURCE_STRENGTH
from annotations.models import Item, Project, RankingMode
from annotations.services.audit import Actor
from annotations.services.ranking_config import RankingSettings, project_ranking_configure
from annotations.services.rankings import (
    RankingInput,
    ranking_assignment_lease,
    ranking_submit,
)

DEMO_SETTINGS = RankingSettings(mode=RankingMode.ALONGSIDE, size=4, overlap=4)
RANKINGS_PER_RATER = 8  # of the 12 tasks: each task keeps room for the demo annotators


def load_rankings_demo(*, project: Project, lead: AbstractBaseUser,
                       raters: list[AbstractBaseUser], seed: int = 2027) -> int:
    """Turn rankings on and let each simulated rater rank; returns the rankings made."""
    project = project_ranking_configure(actor=Actor(user=lead), project=project,
                                        settings=DEMO_SETTINGS)
    rng = random.Random(seed)
    made = 0
    for rater in raters:
        for _ in range(RANKINGS_PER_RATER):
            lease = ranking_assignment_lease(project=project, rater=rater)
            if lease is None:
                break
            sources = dict(Item.objects.filter(pk__in=lease.shown_order)
                           .values_list("pk", "source"))
            noisy = {item: SOURCE_STRENGTH[sources[item]] - math.log(-math.log(rng.random()))
                     for item in lease.shown_order}
            order = tuple(sorted(noisy, key=noisy.__getitem__, reverse=True))
            ranking_submit(assignment=lease, answer=RankingInput(
                order=order, active_seconds=rng.uniform(20, 90)))
            made += 1
    return made
