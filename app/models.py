"""Every domain's tables, imported in one place so Alembic and the tests see the whole schema."""

from app.auth import models as auth_models
from app.clinics import models as clinic_models
from app.core.models import Base

metadata = Base.metadata

__all__ = ["auth_models", "clinic_models", "metadata"]
