"""Booking writes (being written)."""

def booking_mark_paid(**kw): raise NotImplementedError
def booking_expire(**kw): raise NotImplementedError
def booking_record_refunds(**kw): raise NotImplementedError
