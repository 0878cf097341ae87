"""Demo data for rater pools and administration: a pool attached to the demo project, gold
pairs with a gold rate, a quality gate, and an invitation link (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from annotations.models import GateComparison, GateSignal, Item, Project, RaterPool
from annotations.services.audit import Actor
from annotations.services.gating import GateConfig, quality_gate_set
from annotations.services.gold import gold_import, gold_settings_set
from annotations.services.invitations import InvitationPreset, invitation_create
from annotations.services.pools import pool_attach_project, pool_create, pool_member_add

DEMO_POOL = "Demo crowd pool"
GOLD_GROUPS = ("photosynthesis", "binary-search", "tides", "haiku", "rainbow")


def load_pools_demo(*, project: Project, admin: AbstractBaseUser, raters: list[str],
                    base_url: str = "http://127.0.0.1:8000") -> list[str]:
    """Set up the demo's pool, gold pairs, gate and an invitation; lines to print (the
    invitation as an absolute link under ``base_url``, the address the demo serves)."""
    if RaterPool.objects.filter(name=DEMO_POOL).exists():
        return [f"Rater pool: {DEMO_POOL} (already set up)"]
    actor = Actor(user=admin)
    with transaction.atomic():
        pool = pool_create(actor=actor, name=DEMO_POOL,
                           description="The demo's annotators and simulated raters.")
        for username in raters:
            pool_member_add(actor=actor, pool=pool, username=username)
        pool_attach_project(actor=actor, pool=pool, project=project)
        pairs = gold_import(actor=actor, project=project, data=_gold_csv(project))
        gold_settings_set(actor=actor, project=project, rate=0.1)
        quality_gate_set(actor=actor, project=project, config=GateConfig(
            signal=GateSignal.GOLD_ACCURACY, comparison=GateComparison.BELOW, threshold=0.5,
            min_judgments=4))
        issued = invitation_create(actor=actor, preset=InvitationPreset(
            expires_at=timezone.now() + timedelta(days=30), project=project, pool=pool,
            max_uses=20))
    return [f"Rater pool: {DEMO_POOL} with {len(raters)} raters, {pairs} gold pairs "
            "(gold rate 10 %), a gold-accuracy gate",
            f"Invitation link (20 uses, shown once): "
            f"{base_url.rstrip('/')}{reverse('invitation-accept', args=[issued.token])}"]


def _gold_csv(project: Project) -> bytes:
    """The strongest assistant against the weakest on a few prompts: alpha should win."""
    ids = set(Item.objects.filter(project=project).values_list("external_id", flat=True))
    rows = ["left_external_id,right_external_id,expected,explanation"]
    for group in GOLD_GROUPS:
        best, worst = f"{group}-assistant-alpha", f"{group}-assistant-delta"
        if {best, worst} <= ids:
            rows.append(f"{worst},{best},{best},The other answer is off-topic.")
    return "\n".join(rows).encode()
