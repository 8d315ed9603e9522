from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Team


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_every_new_account_a_team(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        Team.objects.create_personal(instance)
