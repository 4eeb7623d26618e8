"""What a person asks of an alert (Reprocess, Booked manually, Mark complete): the requests answered at once, the rules they share with their jobs, and the RQ jobs that do the work."""
