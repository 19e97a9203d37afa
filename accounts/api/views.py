from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from codequal.api.exceptions import ErrorSerializer
from codequal.api.viewsets import ScopedModelViewSet, ScopedReadOnlyModelViewSet
from codequal.exceptions import ApplicationError

from .. import services
from ..filtersets import (
    ApiTokenFilterSet,
    AuditLogFilterSet,
    MembershipFilterSet,
    OrganizationMembershipFilterSet,
    ProjectFilterSet,
)
from ..models import ApiToken, AuditLog, Membership, Organization, OrganizationMembership, Project
from ..selectors import user_organization_roles, user_roles
from ..throttles import LOGIN_THROTTLES
from . import serializers as s


class LoginView(APIView):
    """Exchange a username and password for a JWT access token."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = list(LOGIN_THROTTLES)

    @extend_schema(
        request=s.LoginInputSerializer,
        responses={200: s.LoginOutputSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 429: ErrorSerializer},
        auth=[],
    )
    def post(self, request):
        data = s.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None or not user.is_active:
            services.login_failed(request=request, username=username, method="jwt")
            raise ApplicationError("Invalid username or password.", status_code=status.HTTP_401_UNAUTHORIZED)
        services.login_succeeded(request=request, user=user, method="jwt")
        token = AccessToken.for_user(user)
        out = {"access_token": str(token), "token_type": "bearer", "expires_in": int(token.lifetime.total_seconds())}
        return Response(s.LoginOutputSerializer(out).data)


class MeView(APIView):
    """The authenticated user with their organization and project roles."""

    @extend_schema(responses={200: s.MeSerializer})
    def get(self, request):
        user = request.user
        user.organizations = user_organization_roles(user=user)
        user.projects = user_roles(user=user)
        return Response(s.MeSerializer(user).data)


class OrganizationViewSet(ScopedModelViewSet):
    queryset = Organization.objects.all()
    serializer_class = s.OrganizationSerializer
    filterset_fields = ["slug"]
    ordering_fields = ["name", "created_at"]

    def perform_destroy(self, instance):
        services.organization_delete(actor=self.request.user, organization=instance, request=self.request)


class OrganizationMembershipViewSet(ScopedModelViewSet):
    queryset = OrganizationMembership.objects.all()
    serializer_class = s.OrganizationMembershipSerializer
    filterset_class = OrganizationMembershipFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("user")

    def perform_destroy(self, instance):
        services.organization_member_remove(actor=self.request.user, membership=instance, request=self.request)


class ProjectViewSet(ScopedModelViewSet):
    queryset = Project.objects.all()
    serializer_class = s.ProjectSerializer
    filterset_class = ProjectFilterSet
    ordering_fields = ["name", "created_at"]

    def perform_destroy(self, instance):
        services.project_delete(actor=self.request.user, project=instance, request=self.request)


class MembershipViewSet(ScopedModelViewSet):
    queryset = Membership.objects.all()
    serializer_class = s.MembershipSerializer
    filterset_class = MembershipFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("user")

    def perform_destroy(self, instance):
        services.membership_delete(actor=self.request.user, membership=instance, request=self.request)


class ApiTokenViewSet(ScopedModelViewSet):
    """Personal API tokens. The plain token appears once, in the answer to create; delete revokes."""

    queryset = ApiToken.objects.all()
    serializer_class = s.ApiTokenSerializer
    filterset_class = ApiTokenFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_serializer_class(self):
        return s.ApiTokenCreatedSerializer if self.action == "create" else s.ApiTokenSerializer

    @extend_schema(responses={201: s.ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.api_token_revoke(actor=self.request.user, token=instance, request=self.request)


class AuditLogViewSet(ScopedReadOnlyModelViewSet):
    """Audit entries of the projects you administer, the organizations you own, and your own actions."""

    queryset = AuditLog.objects.all()
    serializer_class = s.AuditLogSerializer
    filterset_class = AuditLogFilterSet
    ordering_fields = ["created_at"]
