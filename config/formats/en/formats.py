# One date format per locale across the admin, pages and e-mails (issue 15):
# "13 Dec 2026" and "13 Dec 2026, 16:44" — day first, month in words, so no
# reader mistakes 03/12 for 12/03, and a 24-hour clock.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
