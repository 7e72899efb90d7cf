"""The appeal page: a suspended shopper (or anyone signed in) asks for a decision to be looked at again."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .forms import AppealForm
from .selectors import last_decided_appeal_of, open_appeal_of
from .services import appeal_submit


@login_required
@require_http_methods(["GET", "POST"])
def appeal(request):
    """/appeal/ — GET: the form, or the open appeal's state; POST: send it. A double submit lands once."""
    form = AppealForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            appeal_submit(user=request.user, text=form.cleaned_data["text"], contact=form.cleaned_data["contact"])
            messages.success(request, _("Your appeal has been received. We will look at it and answer here."))
            return redirect("antifraud:appeal")
        status = 400
    context = {
        "form": form,
        "open_appeal": open_appeal_of(request.user),
        "last_appeal": last_decided_appeal_of(request.user),
    }
    return render(request, "antifraud/appeal.html", context, status=status)
