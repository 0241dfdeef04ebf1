"""`{% load backoffice_audit %}`: audit entries as sentences on the staff
pages (the history pages, the booking's summary card)."""

from django import template

from backoffice.audit_sentences import entry_changes_json, entry_sentence

register = template.Library()

register.filter("audit_sentence", entry_sentence)
register.filter("audit_changes_json", entry_changes_json)
