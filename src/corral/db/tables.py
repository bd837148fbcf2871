"""Every concern's tables, imported in one place so migrations see the whole schema."""

from corral.audit import store as _audit_store  # noqa: F401
from corral.auth import store as _auth_store  # noqa: F401
from corral.db.base import Base
from corral.events import store as _events_store  # noqa: F401
from corral.patterns import store as _patterns_store  # noqa: F401
from corral.projects import projects as _projects  # noqa: F401
from corral.registry import store as _registry_store  # noqa: F401
from corral.settings import store as _settings_store  # noqa: F401
from corral.tasks import store as _tasks_store  # noqa: F401
from corral.workflow import store as _workflow_store  # noqa: F401

metadata = Base.metadata
