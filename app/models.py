"""Every domain's tables, imported in one place so Alembic and the tests see the whole schema."""

from app.assignments import models as assignment_models
from app.auth import models as auth_models
from app.clinics import models as clinic_models
from app.completions import models as completion_models
from app.core import audit, idempotency, outbox
from app.core.models import Base
from app.goals import models as goal_models
from app.groups import models as group_models
from app.programs import models as program_models
from app.support import models as support_models
from app.sync import models as sync_models
from app.templates import models as template_models

metadata = Base.metadata

__all__ = [
    "assignment_models",
    "audit",
    "auth_models",
    "clinic_models",
    "completion_models",
    "goal_models",
    "group_models",
    "idempotency",
    "metadata",
    "outbox",
    "program_models",
    "support_models",
    "sync_models",
    "template_models",
]
