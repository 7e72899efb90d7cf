from django.utils.translation import gettext_lazy as _

BUDGET_EXHAUSTED = _("Budget exhausted: the campaign budget cannot cover another packet.")
CAMPAIGN_NOT_LIVE = _("The campaign is not running.")
