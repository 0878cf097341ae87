from annotations.models.audit import AuditEntry
from annotations.models.gold import GoldQuestion, GoldSettings
from annotations.models.judgment import Assignment, Outcome, PairwiseJudgment
from annotations.models.pools import (
    CrowdIdentity,
    CrowdParticipation,
    CrowdPlatform,
    CrowdStudy,
    Invitation,
    InvitationUse,
    PoolMembership,
    PoolProject,
    RaterPool,
    RaterState,
    RaterStatus,
    WorkloadCap,
)
from annotations.models.project import (
    Item,
    Membership,
    MembershipStatus,
    Project,
    ProjectKind,
    RationaleMode,
    Role,
)
from annotations.models.quality import (
    GateComparison,
    GateSignal,
    GateTrip,
    Notification,
    QualityGate,
)
from annotations.models.reviews import JudgmentReview, ReviewVerdict
from annotations.models.system import WorkerHeartbeat

__all__ = [
    "Assignment",
    "AuditEntry",
    "CrowdIdentity",
    "CrowdParticipation",
    "CrowdPlatform",
    "CrowdStudy",
    "GateComparison",
    "GateSignal",
    "GateTrip",
    "GoldQuestion",
    "GoldSettings",
    "Invitation",
    "InvitationUse",
    "Item",
    "JudgmentReview",
    "Membership",
    "MembershipStatus",
    "Notification",
    "Outcome",
    "PairwiseJudgment",
    "PoolMembership",
    "PoolProject",
    "Project",
    "ProjectKind",
    "QualityGate",
    "RaterPool",
    "RaterState",
    "RaterStatus",
    "RationaleMode",
    "ReviewVerdict",
    "Role",
    "WorkerHeartbeat",
    "WorkloadCap",
]
