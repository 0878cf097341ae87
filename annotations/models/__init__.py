from annotations.models.judgment import Assignment, Outcome, PairwiseJudgment
from annotations.models.project import (
    Item,
    Membership,
    MembershipStatus,
    Project,
    ProjectKind,
    RationaleMode,
    Role,
)
from annotations.models.system import WorkerHeartbeat

__all__ = [
    "Assignment",
    "Item",
    "Membership",
    "MembershipStatus",
    "Outcome",
    "PairwiseJudgment",
    "Project",
    "ProjectKind",
    "RationaleMode",
    "Role",
    "WorkerHeartbeat",
]
