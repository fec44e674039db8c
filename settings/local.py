"""Developer machine: DEBUG on unless told otherwise."""

from .base import *  # noqa: F401,F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
# The demo delivers webhooks to receivers on this machine.
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
