"""Programs in admin: their settings (referral, milestone, trial) are edited here; what they paid is read-only
(services move money), with the reviewer's grading actions for trial feedback.

Registered on import; `campaigns/admin.py` imports this module. Merchant staff see only their merchant's rows."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.selectors import is_platform_operator, scoped_to_merchant
from common.admin import ReadOnlyAdmin, StrictFieldsMixin
from common.errors import ApplicationError

from ..models import (
    Campaign,
    Enrolment,
    Feedback,
    MilestoneAttestation,
    MilestoneProgram,
    ReferralProgram,
    ReferralReward,
    TrialAttribution,
    TrialProgram,
)
from .trial import feedback_grade


class _Scoped:
    """Platform operators see everything; merchant staff their merchant's rows (`merchant_path` leads there)."""

    merchant_path = "campaign__merchant"

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, self.merchant_path)


class ProgramSettingsAdmin(_Scoped, StrictFieldsMixin, admin.ModelAdmin):
    """A program's settings; the campaign list offers only the user's merchant's campaigns."""

    list_select_related = ("campaign",)
    search_fields = ("campaign__name",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = scoped_to_merchant(Campaign.objects.order_by("-pk"), request.user, "merchant")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # OneToOne included


class ReferralProgramAdmin(ProgramSettingsAdmin):
    list_display = ("campaign", "inviter_rate", "window_days")


class MilestoneProgramAdmin(ProgramSettingsAdmin):
    list_display = ("campaign", "teacher_rate")


class TrialProgramAdmin(ProgramSettingsAdmin):
    list_display = ("campaign", "trial_category", "full_category", "reward_a", "reward_b", "reward_c", "auto_grade")
    fieldsets = (
        (None, {"fields": ("campaign",)}),
        (_("Items"), {"fields": (("trial_skus", "trial_category"), ("full_skus", "full_category"))}),
        (
            _("Feedback reward by grade"),
            {"fields": (("reward_a", "reward_b", "reward_c"), "points_per_cny", "auto_grade")},
        ),
        (_("Merchant marketing-fee rebate"), {"fields": ("merchant_fee_rate", "attribution_days")}),
    )


class ReferralRewardAdmin(_Scoped, ReadOnlyAdmin):
    merchant_path = "program__campaign__merchant"
    list_display = (
        "order",
        "inviter",
        "invitee",
        "base",
        "rate",
        "factor",
        "amount",
        "reversed_amount",
        "status",
        "hold_until",
    )
    list_filter = ("status",)
    list_select_related = ("order", "inviter", "invitee")
    search_fields = ("order__order_no", "inviter__phone", "inviter__username")


class EnrolmentAdmin(_Scoped, ReadOnlyAdmin):
    list_display = (
        "external_id",
        "campaign",
        "teacher",
        "student",
        "tuition",
        "reward",
        "lessons_completed",
        "lessons_required",
        "assessment_passed",
        "deadline",
        "status",
    )
    list_filter = ("status",)
    list_select_related = ("campaign", "teacher", "student")
    search_fields = ("external_id", "teacher__phone", "student__phone")


class MilestoneAttestationAdmin(_Scoped, ReadOnlyAdmin):
    merchant_path = "merchant"
    list_display = ("event_id", "enrolment", "lessons_completed", "assessment_passed", "created_at")
    search_fields = ("event_id", "enrolment__external_id")


class FeedbackAdmin(_Scoped, ReadOnlyAdmin):
    merchant_path = "program__campaign__merchant"
    list_display = (
        "order",
        "shopper",
        "rating",
        "short_text",
        "grade",
        "graded_by",
        "reward_points",
        "graded_at",
        "reversed_at",
    )
    list_filter = ("grade", "graded_by", "rating")
    list_select_related = ("order", "shopper")
    search_fields = ("order__order_no", "shopper__phone", "text")
    actions = ("grade_a", "grade_b", "grade_c", "grade_by_rule")

    @admin.display(description=_("feedback"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:60] + "…"

    def has_grade_permission(self, request):
        return request.user.has_perm("campaigns.change_feedback") or is_platform_operator(request.user)

    def _grade(self, request, queryset, grade):
        graded = skipped = 0
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                _feedback, changed = feedback_grade(feedback_id=pk, grade=grade, reviewer=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc.message}", messages.ERROR)
                continue
            graded += changed
            skipped += not changed
        if graded:
            self.message_user(
                request,
                ngettext("%d feedback graded and rewarded.", "%d feedback graded and rewarded.", graded) % graded,
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%d feedback was already graded and was left alone.",
                    "%d feedback were already graded and were left alone.",
                    skipped,
                )
                % skipped,
                messages.WARNING,
            )

    @admin.action(description=_("Grade A and reward"), permissions=["grade"])
    def grade_a(self, request, queryset):
        self._grade(request, queryset, Feedback.Grade.A)

    @admin.action(description=_("Grade B and reward"), permissions=["grade"])
    def grade_b(self, request, queryset):
        self._grade(request, queryset, Feedback.Grade.B)

    @admin.action(description=_("Grade C (no reward at the default table)"), permissions=["grade"])
    def grade_c(self, request, queryset):
        self._grade(request, queryset, Feedback.Grade.C)

    @admin.action(description=_("Grade by the scoring rule and reward"), permissions=["grade"])
    def grade_by_rule(self, request, queryset):
        self._grade(request, queryset, None)


class TrialAttributionAdmin(_Scoped, ReadOnlyAdmin):
    merchant_path = "merchant"
    list_display = (
        "order",
        "trial_order",
        "merchant",
        "base",
        "rate",
        "amount",
        "reversed_amount",
        "status",
        "created_at",
    )
    list_filter = ("status",)
    list_select_related = ("order", "trial_order", "merchant")


_REGISTRY = (
    (ReferralProgram, ReferralProgramAdmin),
    (MilestoneProgram, MilestoneProgramAdmin),
    (TrialProgram, TrialProgramAdmin),
    (ReferralReward, ReferralRewardAdmin),
    (Enrolment, EnrolmentAdmin),
    (MilestoneAttestation, MilestoneAttestationAdmin),
    (Feedback, FeedbackAdmin),
    (TrialAttribution, TrialAttributionAdmin),
)
# Safe to import twice (tests import it directly; campaigns/admin.py imports it too).
for _model, _admin in _REGISTRY:
    if not admin.site.is_registered(_model):
        admin.site.register(_model, _admin)
