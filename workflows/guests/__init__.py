"""A guest's personal data (issue 28; GDPR art. 5(1)(e) and 17): erased from every table that
holds it `GUEST_DATA_DAYS` after a done order's last activity (`retention`), or at once on
request (`erasure`, `syncdesk erase-guest`), the chat messages rewritten without it; what
counts as the guest's in free text (`scrub`)."""
