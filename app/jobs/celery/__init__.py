"""Scale-out on Celery + Redis: job ids go to workers, the database stays the source of truth.

:mod:`.app` configures Celery and sends job ids; :mod:`.engine` is the service's job engine when a
broker is set; :mod:`.tasks` are what workers run; :mod:`.sweep` requeues dead workers' jobs and
resends lost messages.
"""
