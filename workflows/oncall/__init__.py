"""Who is on call and what happens when nobody acts: the rotation, escalation (direct message, channel, PagerDuty) and the on-call requests (I'm on it, take, release)."""
