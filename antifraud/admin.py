"""The platform operators' anti-fraud console: the review queue of held rebates with the evidence behind each, held
referral-program rewards, assessments, detector findings, appeals, allow/block lists, risk policies, scam-guard
approvals and the review trail.

Only platform operators see any of it (merchant staff use the same admin site for their campaigns). Every decision is
an admin action that asks for a reason on an intermediate page, like Django's delete confirmation, and calls a service
of antifraud/services.py, which records it."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, Q, Value, When
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.selectors import is_platform_operator
from campaigns.models import ReferralReward
from common.errors import ApplicationError
from common.money import format_cny
from rebates.models import Rebate

from . import services
from .forms import FindingConfirmForm, ReasonForm, ResponseForm
from .models import (
    Appeal,
    CampaignApproval,
    Finding,
    ListEntry,
    ReviewAction,
    RiskAssessment,
    RiskPolicy,
)
from .selectors import rebate_evidence, signals_in_words


def operator(request) -> bool:
    """Whether the signed-in user is a platform operator (asked once per request)."""
    if not hasattr(request, "_antifraud_operator"):
        request._antifraud_operator = request.user.is_active and is_platform_operator(request.user)
    return request._antifraud_operator


class OperatorOnlyAdmin(admin.ModelAdmin):
    """Platform operators only; read-only unless `editable`. Review actions need `has_review_permission`."""

    editable = False

    def has_module_permission(self, request):
        return operator(request)

    def has_view_permission(self, request, obj=None):
        return operator(request)

    def has_add_permission(self, request, obj=None):
        return self.editable and operator(request)

    def has_change_permission(self, request, obj=None):
        return self.editable and operator(request)

    def has_delete_permission(self, request, obj=None):
        return self.editable and operator(request)

    def has_review_permission(self, request):
        return operator(request)


def decide_with_reason(modeladmin, request, queryset, *, title, perform, form_class=ReasonForm, button=None, done=None):
    """An admin action with an intermediate page: the selected objects and a reason form. On "apply" with a valid form,
    `perform(obj, cleaned_data)` runs per object (a service; True when it changed something); errors are reported per
    object; `done(count)` words the success message. Returns None (back to the list) once applied, else the confirmation
    page."""
    applying = "apply" in request.POST
    form = form_class(request.POST if applying else None)
    if applying and form.is_valid():
        changed, skipped = 0, 0
        for obj in queryset:
            try:
                if perform(obj, form.cleaned_data):
                    changed += 1
                else:
                    skipped += 1
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        if changed:
            message = done(changed) if done else ngettext("%(count)d done.", "%(count)d done.", changed)
            modeladmin.message_user(request, message % {"count": changed}, messages.SUCCESS)
        if skipped:
            modeladmin.message_user(
                request,
                ngettext(
                    "%(count)d already in that state: nothing to do.",
                    "%(count)d already in that state: nothing to do.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": list(queryset),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
        "button": button or title,
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "admin/antifraud/decide.html", context)


def review_action(*, description, title, perform, form_class=ReasonForm):
    """An operator's decision as an admin action: the reason page of `decide_with_reason`, then
    `perform(obj, actor, cleaned_data)` — one service call — per selected object."""

    @admin.action(description=description, permissions=["review"])
    def action(modeladmin, request, queryset):
        return decide_with_reason(
            modeladmin,
            request,
            queryset,
            title=title,
            form_class=form_class,
            perform=lambda obj, data: perform(obj, request.user, data),
        )

    return action


class WaitingFirstMixin:
    """Rows matching `waiting` (what waits for a decision) listed first, oldest first; a column the operator sorts by
    wins."""

    waiting: Q

    def get_queryset(self, request):
        qs = self.model._default_manager.get_queryset().annotate(
            _waiting=Case(When(self.waiting, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def get_ordering(self, request):
        return ("_waiting", "created_at") if not request.GET.get("o") else super().get_ordering(request)


def _signals_html(signals) -> str:
    words = signals_in_words(signals)
    if not words:
        return "-"
    return format_html("<ul class='signals'>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in words)))


class AssessmentColumns:
    """The score and signals of a row's own risk assessment (`risk_assessment`), as list columns."""

    @admin.display(description=_("score"))
    def score(self, obj):
        assessment = getattr(obj, "risk_assessment", None)
        return assessment.score if assessment else "-"

    @admin.display(description=_("signals"))
    def signals(self, obj):
        assessment = getattr(obj, "risk_assessment", None)
        return _signals_html(assessment.signals if assessment else [])


# --- the review queue -------------------------------------------------------------------------------------------------


class HeldRebate(Rebate):
    """The review queue's view of rebates (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("held rebate")
        verbose_name_plural = _("review queue")


class QueueStateFilter(admin.SimpleListFilter):
    """Held for review by default; credited rebates too, for the "revoke" penalty."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (
            ("held", _("held for review")),
            ("credited", _("credited (can be revoked)")),
            ("all", _("all rebates")),
        )

    def choices(self, changelist):
        value = self.value() or "held"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "held"
        if value == "held":
            return queryset.filter(held_for_review=True, status=Rebate.Status.PENDING)
        if value == "credited":
            return queryset.filter(status=Rebate.Status.CREDITED)
        return queryset


@admin.register(HeldRebate)
class ReviewQueueAdmin(AssessmentColumns, OperatorOnlyAdmin):
    list_display = ("id", "beneficiary", "amount_shown", "campaign", "score", "signals", "age", "status")
    list_display_links = ("id", "beneficiary")
    list_filter = (QueueStateFilter, "role", "form")
    search_fields = ("beneficiary_user__phone", "beneficiary_user__username", "beneficiary_merchant__name")
    list_select_related = (
        "beneficiary_user",
        "beneficiary_merchant",
        "redemption__packet__campaign",
        "risk_assessment",
    )
    ordering = ("created_at", "pk")
    actions = ("release_rebates", "reject_rebates")

    @admin.display(description=_("beneficiary"))
    def beneficiary(self, obj):
        return obj.beneficiary_user or obj.beneficiary_merchant

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj):
        return format_cny(obj.amount) if obj.currency == "CNY" else f"{obj.amount:,.0f} {obj.currency}"

    @admin.display(description=_("campaign"))
    def campaign(self, obj):
        return obj.redemption.packet.campaign

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at, timezone.now())

    release_rebates = review_action(
        description=_("Release selected rebates (pay them)"),
        title=_("Release rebates"),
        perform=lambda rebate, actor, data: services.rebate_release(
            rebate_id=rebate.pk, actor=actor, reason=data["reason"]
        ),
    )

    reject_rebates = review_action(
        description=_("Reject selected rebates (take the value back)"),
        title=_("Reject rebates"),
        perform=lambda rebate, actor, data: services.rebate_reject(
            rebate_id=rebate.pk, actor=actor, reason=data["reason"]
        ),
    )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The evidence page: everything a reviewer needs to decide one rebate, with release / reject buttons."""
        rebate = get_object_or_404(self.get_queryset(request), pk=object_id)
        evidence = rebate_evidence(rebate.pk)
        queue_url = reverse("admin:antifraud_heldrebate_changelist")
        if not (rebate.held_for_review and rebate.status == Rebate.Status.PENDING):
            queue_url += "?state=all"
        context = {
            **self.admin_site.each_context(request),
            "title": _("Evidence for rebate #%(id)s") % {"id": rebate.pk},
            "opts": self.model._meta,
            "original": rebate,
            "e": evidence,
            "assessment_signals": signals_in_words(evidence.assessment.signals if evidence.assessment else []),
            "redemption_signals": signals_in_words(
                evidence.redemption_assessment.signals if evidence.redemption_assessment else []
            ),
            "queue_url": queue_url,
            "can_release": rebate.held_for_review and rebate.status == Rebate.Status.PENDING,
            "can_reject": rebate.status != Rebate.Status.REVERSED,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/antifraud/evidence.html", context)


class HeldReferralReward(ReferralReward):
    """Referral-program rewards as the review queue sees them (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("held referral reward")
        verbose_name_plural = _("held referral rewards")


@admin.register(HeldReferralReward)
class HeldReferralRewardAdmin(WaitingFirstMixin, AssessmentColumns, OperatorOnlyAdmin):
    waiting = Q(held_for_review=True, status=ReferralReward.Status.PENDING)
    list_display = (
        "id",
        "inviter",
        "invitee",
        "order",
        "amount_shown",
        "status",
        "held_for_review",
        "score",
        "signals",
    )
    list_filter = ("held_for_review", "status")
    search_fields = ("inviter__phone", "inviter__username", "invitee__phone", "order__order_no")
    list_select_related = ("inviter", "invitee", "order", "risk_assessment")
    actions = ("release_rewards", "reject_rewards")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj):
        return format_cny(obj.amount)

    release_rewards = review_action(
        description=_("Release selected referral rewards (pay them)"),
        title=_("Release referral rewards"),
        perform=lambda reward, actor, data: services.referral_reward_release(
            reward_id=reward.pk, actor=actor, reason=data["reason"]
        ),
    )

    reject_rewards = review_action(
        description=_("Reject selected referral rewards (take the value back)"),
        title=_("Reject referral rewards"),
        perform=lambda reward, actor, data: services.referral_reward_reject(
            reward_id=reward.pk, actor=actor, reason=data["reason"]
        ),
    )


# --- assessments, findings, appeals -----------------------------------------------------------------------------------


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(OperatorOnlyAdmin):
    list_display = ("created_at", "subject", "decision", "score", "campaign", "user", "signal_words")
    list_filter = ("decision", "subject")
    search_fields = ("user__phone", "user__username", "campaign__name")
    list_select_related = ("campaign", "user")
    date_hierarchy = "created_at"
    readonly_fields = (
        "subject",
        "redemption",
        "rebate",
        "referral_reward",
        "campaign",
        "user",
        "score",
        "decision",
        "signal_words",
        "policy",
        "created_at",
    )
    fields = readonly_fields

    @admin.display(description=_("signals"))
    def signal_words(self, obj):
        return _signals_html(obj.signals)


@admin.register(Finding)
class FindingAdmin(OperatorOnlyAdmin):
    list_display = ("__str__", "kind", "status", "accounts", "short_explanation", "detected_at", "last_seen_at")
    list_filter = ("kind", "status")
    search_fields = ("explanation", "fingerprint")
    readonly_fields = (
        "kind",
        "status",
        "merchant",
        "accounts",
        "explanation",
        "evidence",
        "detected_at",
        "last_seen_at",
        "reviewed_by",
        "reviewed_at",
    )
    fields = readonly_fields
    actions = ("confirm_findings", "dismiss_findings")

    @admin.display(description=_("accounts"))
    def accounts(self, obj):
        return ", ".join(f"#{pk}" for pk in obj.user_ids)

    @admin.display(description=_("explanation"))
    def short_explanation(self, obj):
        return Truncator(obj.explanation).chars(120)

    confirm_findings = review_action(
        description=_("Confirm selected findings (reject their held rebates)"),
        title=_("Confirm findings"),
        form_class=FindingConfirmForm,
        perform=lambda finding, actor, data: services.finding_confirm(
            finding_id=finding.pk, actor=actor, reason=data["reason"], ban=data["ban"]
        ),
    )

    dismiss_findings = review_action(
        description=_("Dismiss selected findings (release what they alone held)"),
        title=_("Dismiss findings"),
        perform=lambda finding, actor, data: services.finding_dismiss(
            finding_id=finding.pk, actor=actor, reason=data["reason"]
        ),
    )


@admin.register(Appeal)
class AppealAdmin(WaitingFirstMixin, OperatorOnlyAdmin):
    list_display = ("id", "user", "status", "created_at", "short_text", "contact", "handled_by", "handled_at")
    list_filter = ("status",)
    search_fields = ("user__phone", "user__username", "user__email", "text", "contact")
    list_select_related = ("user", "handled_by")
    readonly_fields = ("user", "status", "text", "contact", "created_at", "handled_by", "handled_at", "response")
    fields = readonly_fields
    actions = ("accept_appeals", "reject_appeals")

    waiting = Q(status=Appeal.Status.OPEN)

    @admin.display(description=_("what happened"))
    def short_text(self, obj):
        return Truncator(obj.text).chars(100)

    accept_appeals = review_action(
        description=_("Accept selected appeals (lift the ban)"),
        title=_("Accept appeals"),
        form_class=ResponseForm,
        perform=lambda appeal, actor, data: services.appeal_decide(
            appeal_id=appeal.pk, actor=actor, accept=True, response=data["reason"]
        ),
    )

    reject_appeals = review_action(
        description=_("Reject selected appeals"),
        title=_("Reject appeals"),
        form_class=ResponseForm,
        perform=lambda appeal, actor, data: services.appeal_decide(
            appeal_id=appeal.pk, actor=actor, accept=False, response=data["reason"]
        ),
    )


# --- lists, policies, approvals, the trail ----------------------------------------------------------------------------


@admin.register(ListEntry)
class ListEntryAdmin(OperatorOnlyAdmin):
    editable = True
    list_display = ("list", "kind", "value", "reason", "created_by", "created_at")
    list_filter = ("list", "kind")
    search_fields = ("value", "reason")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(RiskPolicy)
class RiskPolicyAdmin(OperatorOnlyAdmin):
    editable = True
    list_display = (
        "campaign",
        "action",
        "review_score",
        "block_score",
        "ip_daily_limit",
        "device_daily_limit",
        "account_daily_limit",
        "min_interval_minutes",
        "trail_required",
    )
    list_filter = ("action", "trail_required")
    search_fields = ("campaign__name",)
    autocomplete_fields = ("campaign",)
    list_select_related = ("campaign",)


class RiskPolicyInline(admin.StackedInline):
    """On the campaign admin, for platform operators only (merchant staff do not set their own fraud policy)."""

    model = RiskPolicy
    extra = 0
    max_num = 1
    can_delete = True
    verbose_name_plural = _("risk policy (platform operators only; none = the defaults)")

    def has_view_permission(self, request, obj=None):
        return operator(request)

    def has_add_permission(self, request, obj=None):
        return operator(request)

    def has_change_permission(self, request, obj=None):
        return operator(request)

    def has_delete_permission(self, request, obj=None):
        return operator(request)


@admin.register(CampaignApproval)
class CampaignApprovalAdmin(WaitingFirstMixin, OperatorOnlyAdmin):
    list_display = ("campaign", "status", "why", "decided_by", "decided_at", "note", "created_at")
    list_filter = ("status",)
    search_fields = ("campaign__name",)
    list_select_related = ("campaign", "decided_by")
    readonly_fields = ("campaign", "status", "why", "decided_by", "decided_at", "note", "created_at")
    fields = readonly_fields
    actions = ("approve_campaigns", "refuse_campaigns")

    waiting = Q(status=CampaignApproval.Status.REQUIRED)

    @admin.display(description=_("why"))
    def why(self, obj):
        from .scam import DESCRIPTIONS

        words = []
        for s in obj.signals or []:
            try:
                words.append(str(DESCRIPTIONS[s["code"]]) % s.get("params", {}))
            except (KeyError, TypeError, ValueError):
                words.append(str(s.get("detail") or s.get("code", "")))
        return format_html("<ul class='signals'>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in words)))

    approve_campaigns = review_action(
        description=_("Approve selected campaigns (they may go live)"),
        title=_("Approve campaigns"),
        perform=lambda approval, actor, data: services.campaign_approval_decide(
            approval_id=approval.pk, actor=actor, approve=True, note=data["reason"]
        ),
    )

    refuse_campaigns = review_action(
        description=_("Refuse selected campaigns"),
        title=_("Refuse campaigns"),
        perform=lambda approval, actor, data: services.campaign_approval_decide(
            approval_id=approval.pk, actor=actor, approve=False, note=data["reason"]
        ),
    )


@admin.register(ReviewAction)
class ReviewActionAdmin(OperatorOnlyAdmin):
    list_display = ("created_at", "action", "target", "actor_shown", "reason")
    list_filter = ("action",)
    search_fields = ("target", "reason", "actor__username")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "action", "target", "actor", "reason")
    fields = readonly_fields

    @admin.display(description=_("by"), ordering="actor")
    def actor_shown(self, obj):
        return obj.actor or _("the system")
