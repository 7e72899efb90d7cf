"""The console's packet batches: "Generate packets…" on campaigns, the progress of a batch, its CSV export, and the
offline poster of a campaign for a channel.

Wire it into the campaign admin with one change in campaigns/admin.py:

    from .admin_batch import BatchAdminMixin
    class CampaignAdmin(BatchAdminMixin, MerchantScopedAdmin): ...

The mixin adds the action and its URLs (its get_urls runs before the admin's own); every view checks that the
campaign is one the user may see (merchant staff: their merchant's only).
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError
from packets import batch as batches
from packets import posters
from packets.models import PacketBatch

from .models import Campaign, EarnRule

FORM_TOKEN_TTL = 24 * 3600


class GenerateForm(forms.Form):
    count = forms.IntegerField(label=_("Number of packets"), min_value=1, max_value=batches.MAX_COUNT)
    rule = forms.ModelChoiceField(
        label=_("Packet terms from earn rule"),
        queryset=EarnRule.objects.none(),
        help_text=_("Minimum spend, categories and (unless given below) the amount or tiers come from this rule."),
    )
    tiers = forms.CharField(
        label=_("Tiered amounts"),
        required=False,
        max_length=200,
        help_text=_("Optional amount:weight pairs drawn per packet, e.g. 5.00:70, 10.00:30. Empty: the rule's."),
    )
    valid_days = forms.IntegerField(
        label=_("Valid for days"), required=False, min_value=1, help_text=_("Empty: the rule's validity.")
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        rules = campaign.earn_rules.order_by("pk")
        self.fields["rule"].queryset = rules
        manual = [r for r in rules if r.trigger == EarnRule.Trigger.MANUAL]
        if rules:
            self.fields["rule"].initial = (manual or list(rules))[0].pk

    def clean_tiers(self):
        tiers = self.cleaned_data.get("tiers", "").strip()
        if tiers:
            try:
                batches.parse_tiers(tiers)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return tiers


class PosterForm(forms.Form):
    channel = forms.CharField(
        label=_("Channel"),
        max_length=16,
        help_text=_("Where the poster hangs, e.g. mall-3f: claims through its QR code are attributed to it."),
    )

    def clean_channel(self):
        try:
            return posters.clean_channel(self.cleaned_data["channel"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc


class BatchAdminMixin:
    """For the Campaign ModelAdmin: batch generation, progress, export and posters."""

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<int:pk>/generate/", view(self.generate_view), name="campaigns_campaign_generate"),
            path("<int:pk>/poster/", view(self.poster_view), name="campaigns_campaign_poster"),
            path("batches/<int:batch_id>/", view(self.batch_view), name="campaigns_campaign_batch"),
            path(
                "batches/<int:batch_id>/progress.json",
                view(self.batch_progress_view),
                name="campaigns_campaign_batch_progress",
            ),
            path(
                "batches/<int:batch_id>/export.csv",
                view(self.batch_export_view),
                name="campaigns_campaign_batch_export",
            ),
        ]
        return custom + super().get_urls()

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            func = BatchAdminMixin.generate_packets
            actions["generate_packets"] = (func, "generate_packets", func.short_description)
        return actions

    @admin.action(description=_("Generate packets…"))
    def generate_packets(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one campaign to generate packets for."), messages.WARNING)
            return None
        return redirect(self._url("campaigns_campaign_generate", queryset.get().pk))

    # --- helpers ---

    def _url(self, name: str, *args) -> str:
        return reverse(f"{self.admin_site.name}:{name}", args=args)

    def _campaign(self, request, pk: int, *, change: bool) -> Campaign:
        campaign = get_object_or_404(self.get_queryset(request), pk=pk)
        allowed = self.has_change_permission(request, campaign) if change else self.has_view_permission(request)
        if not allowed:
            raise PermissionDenied
        return campaign

    def _batch(self, request, batch_id: int, *, change: bool) -> PacketBatch:
        batch = get_object_or_404(PacketBatch.objects.select_related("campaign"), pk=batch_id)
        self._campaign(request, batch.campaign_id, change=change)  # 404 for another merchant's batch
        return batch

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    # --- views ---

    def generate_view(self, request, pk: int):
        campaign = self._campaign(request, pk, change=True)
        form = GenerateForm(request.POST or None, campaign=campaign, initial={"token": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            # The form's one-time token: a double-submitted form generates (and reserves) once.
            token_key = f"packets:batch-form:{request.user.pk}:{data['token']}"
            if not cache.add(token_key, 0, FORM_TOKEN_TTL):
                earlier = cache.get(token_key)
                if earlier:
                    return redirect(self._url("campaigns_campaign_batch", earlier))
                form.add_error(None, _("This form was already submitted."))
            else:
                try:
                    batch = batches.batch_request(
                        campaign=campaign,
                        count=data["count"],
                        rule=data["rule"],
                        tiers=data["tiers"],
                        valid_days=data["valid_days"],
                        created_by=request.user,
                    )
                except ApplicationError as exc:
                    cache.delete(token_key)
                    form.add_error(None, exc.message)
                else:
                    cache.set(token_key, batch.pk, FORM_TOKEN_TTL)
                    self.message_user(
                        request,
                        _("Generating %(count)s packets in the background.") % {"count": f"{batch.count:,}"},
                        messages.SUCCESS,
                    )
                    return redirect(self._url("campaigns_campaign_batch", batch.pk))
        recent = campaign.packet_batches.order_by("-pk")[:20]
        context = self._context(
            request,
            title=_("Generate packets for %(name)s") % {"name": campaign.name},
            campaign=campaign,
            form=form,
            poster_form=PosterForm(),
            batches=[(b, self._url("campaigns_campaign_batch", b.pk)) for b in recent],
            poster_url=self._url("campaigns_campaign_poster", campaign.pk),
            change_url=self._url("campaigns_campaign_change", campaign.pk),
        )
        return render(request, "admin/campaigns/batch_generate.html", context)

    def batch_view(self, request, batch_id: int):
        batch = self._batch(request, batch_id, change=False)
        context = self._context(
            request,
            title=_("Packet batch %(id)s of %(name)s") % {"id": batch.pk, "name": batch.campaign.name},
            batch=batch,
            campaign=batch.campaign,
            progress=batches.batch_progress(batch),
            progress_url=self._url("campaigns_campaign_batch_progress", batch.pk),
            export_url=self._url("campaigns_campaign_batch_export", batch.pk),
            generate_url=self._url("campaigns_campaign_generate", batch.campaign_id),
            change_url=self._url("campaigns_campaign_change", batch.campaign_id),
        )
        return render(request, "admin/campaigns/batch_progress.html", context)

    def batch_progress_view(self, request, batch_id: int):
        batch = self._batch(request, batch_id, change=False)
        return JsonResponse(batches.batch_progress(batch))

    def batch_export_view(self, request, batch_id: int):
        # The codes are bearer tokens worth money: exporting them needs the right to change the campaign.
        batch = self._batch(request, batch_id, change=True)
        if batch.status != PacketBatch.Status.DONE:
            self.message_user(request, _("Only a finished batch can be exported."), messages.WARNING)
            return redirect(self._url("campaigns_campaign_batch", batch.pk))
        base_url = request.build_absolute_uri("/").rstrip("/")
        response = StreamingHttpResponse(
            batches.batch_csv_lines(batch, base_url=base_url), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="campaign-{batch.campaign_id}-batch-{batch.pk}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    def poster_view(self, request, pk: int):
        campaign = self._campaign(request, pk, change=False)
        form = PosterForm(request.GET or None)
        if not form.is_valid():
            message = "; ".join(e for errors in form.errors.values() for e in errors) or _("Give a channel.")
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        channel = form.cleaned_data["channel"]
        base_url = request.build_absolute_uri("/").rstrip("/")
        kind = request.GET.get("format", "html")
        if kind in ("svg", "png"):
            url = base_url + posters.campaign_claim_path(campaign.pk, channel)
            if kind == "svg":
                body, content_type = posters.qr_svg(url).encode(), "image/svg+xml"
            else:
                body, content_type = posters.qr_png(url), "image/png"
            response = HttpResponse(body, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{channel}.{kind}"'
            return response
        return HttpResponse(posters.poster_html(campaign=campaign, channel=channel, base_url=base_url, request=request))
