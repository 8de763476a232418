"""Database adapter. Importing it registers every table module on ``models.Base``."""

from cityops.adapters.db import alarm_models as alarm_models
from cityops.adapters.db import lifeline_models as lifeline_models
from cityops.adapters.db import media_models as media_models
