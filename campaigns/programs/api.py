"""Program endpoints: a course platform's enrolments and progress reports (紅包反向系統), a shopper's trial feedback
(新品試用). Thin: validate, check ownership, call one service in `milestone.py` or `trial.py`."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import merchant_of
from common.api import ERROR, DateTimeField, MoneyField
from common.errors import ApplicationError
from common.idempotency import idempotent

from ..models import Enrolment, Feedback
from . import milestone, trial


def _merchant(request):
    merchant = merchant_of(request.user)
    if merchant is None:
        raise ApplicationError(
            _("Only a course platform's staff token can do this."), code="not_a_merchant", status=403
        )
    return merchant


class EnrolmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Enrolment.Status.choices)
    lessons_required = serializers.IntegerField()
    lessons_completed = serializers.IntegerField()
    assessment_passed = serializers.BooleanField()
    tuition = serializers.CharField(help_text='CNY as a decimal string, e.g. "3000.00"')
    rate = serializers.CharField(help_text="the teacher's rate in percent, fixed at enrolment")
    reward = serializers.CharField(help_text="what the teacher is paid when the milestone is met")
    deadline = DateTimeField()
    paid_at = DateTimeField(allow_null=True)
    event_id = serializers.CharField(required=False, help_text="in replies to a progress report")


class EnrolmentCreateInput(serializers.Serializer):
    campaign_id = serializers.IntegerField(min_value=1)
    teacher_id = serializers.IntegerField(min_value=1)
    student_id = serializers.IntegerField(min_value=1)
    external_id = serializers.CharField(max_length=100)
    tuition = MoneyField(positive=True)
    lessons_required = serializers.IntegerField(min_value=1, max_value=10_000)
    deadline = DateTimeField()


class EnrolmentAttestInput(serializers.Serializer):
    lessons_completed = serializers.IntegerField(min_value=0, max_value=10_000)
    assessment_passed = serializers.BooleanField()
    event_id = serializers.CharField(max_length=100, help_text="unique per course platform; a replay is harmless")


class FeedbackCreateInput(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1)
    text = serializers.CharField(max_length=4000)
    rating = serializers.IntegerField(min_value=1, max_value=5)


class EnrolmentCreateApi(APIView):
    InputSerializer = EnrolmentCreateInput

    @extend_schema(
        operation_id="milestones_enrolments_create",
        summary="Report an enrolment; the teacher's reward is reserved from the campaign budget",
        request=InputSerializer,
        responses={201: EnrolmentOutput, **{code: ERROR for code in (400, 401, 403, 404, 409, 413, 422)}},
        examples=[
            OpenApiExample(
                "12 lessons, 3000.00 tuition",
                value={
                    "campaign_id": 3,
                    "teacher_id": 41,
                    "student_id": 57,
                    "external_id": "ENR-2026-0001",
                    "tuition": "3000.00",
                    "lessons_required": 12,
                    "deadline": "2026-12-31T23:59:59+08:00",
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        merchant = _merchant(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrolment = milestone.enrolment_create(merchant=merchant, **data.validated_data)
        return Response(milestone.enrolment_reply(enrolment), status=status.HTTP_201_CREATED)


class EnrolmentDetailApi(APIView):
    @extend_schema(
        operation_id="milestones_enrolments_retrieve", responses={200: EnrolmentOutput, 403: ERROR, 404: ERROR}
    )
    def get(self, request, enrolment_id: int):
        merchant = _merchant(request)
        enrolment = get_object_or_404(Enrolment.objects.filter(campaign__merchant=merchant), pk=enrolment_id)
        return Response(milestone.enrolment_reply(enrolment))


class EnrolmentAttestApi(APIView):
    InputSerializer = EnrolmentAttestInput

    @extend_schema(
        operation_id="milestones_enrolments_attest",
        summary="Report a student's progress; the milestone pays the teacher once",
        description=(
            "Progress only moves forward (the most lessons reported; passed once passed). When the required lessons "
            "are completed and the assessment passed, the teacher is paid the reserved reward — exactly once. "
            "`event_id` is the idempotency key: the same event again returns the stored reply with the header "
            "`Idempotent-Replayed: true`; the same event id with another payload is 422 `event_id_reused`. "
            "After the deadline: 409 `enrolment_expired`."
        ),
        request=InputSerializer,
        responses={200: EnrolmentOutput, **{code: ERROR for code in (400, 401, 403, 404, 409, 413, 422)}},
        examples=[
            OpenApiExample(
                "All 12 lessons and the test passed",
                value={"lessons_completed": 12, "assessment_passed": True, "event_id": "evt-9f2c"},
                request_only=True,
            )
        ],
    )
    def post(self, request, enrolment_id: int):
        merchant = _merchant(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reply, replayed = milestone.enrolment_attest(
            merchant=merchant, enrolment_id=enrolment_id, **data.validated_data
        )
        response = Response(reply, status=status.HTTP_200_OK)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class FeedbackOutput(serializers.ModelSerializer):
    class Meta:
        model = Feedback
        fields = ["id", "order_id", "rating", "text", "grade", "reward_points", "created_at", "graded_at"]


class FeedbackCreateApi(APIView):
    InputSerializer = FeedbackCreateInput

    @extend_schema(
        operation_id="trials_feedback_create",
        summary="Submit feedback on a trial order; its grade sets the points reward",
        description=(
            "Only for the caller's own order bought with a packet of a trial campaign that contains a trial item "
            "(else 400 `not_a_trial_order`); one per order (409 `feedback_exists`). A program that grades by its "
            "scoring rule grades and rewards at once; otherwise a reviewer grades it later."
        ),
        request=InputSerializer,
        responses={201: FeedbackOutput, **{code: ERROR for code in (400, 401, 404, 409, 413, 422)}},
        examples=[
            OpenApiExample(
                "A useful review",
                value={"order_id": 812, "text": "质地清爽，不油腻，两周后毛孔明显细了。", "rating": 4},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = trial.feedback_submit(shopper=request.user, **data.validated_data)
        return Response(FeedbackOutput(feedback).data, status=status.HTTP_201_CREATED)
