"""What the debug page and error reports may show: no secrets, not even inside a URL."""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter

from kling_studio.observability import URL_PASSWORD


class SecretsMaskingFilter(SafeExceptionReporterFilter):
    """Django's filter, which hides settings named like secrets, and also the password of
    any URL it shows (DATABASE_URL, REDIS_URL, in the settings and the request's environment)."""

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        if type(value) is str:  # a lazy object passes isinstance, and the regex cannot read it
            return URL_PASSWORD.sub(lambda match: f"{match['head']}{self.cleansed_substitute}@", value)
        return value
