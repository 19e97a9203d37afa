from django.contrib.auth import get_user_model
from rest_framework import serializers

from codequal.api.viewsets import ScopedPrimaryKeyRelatedField

from .. import services
from ..choices import OrganizationRole, ProjectRole
from ..models import ApiToken, AuditLog, Membership, Organization, OrganizationMembership, Project
from ..selectors import user_get_by_identifier


def _request(serializer):
    return serializer.context["request"]


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name"]
        read_only_fields = fields


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class LoginOutputSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class OrganizationRoleSerializer(serializers.Serializer):
    organization = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=OrganizationRole.choices)


class ProjectRoleSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    project_name = serializers.CharField()
    organization = serializers.IntegerField()
    role = serializers.ChoiceField(choices=ProjectRole.choices)


class MeSerializer(UserSummarySerializer):
    is_staff = serializers.BooleanField(read_only=True)
    is_superuser = serializers.BooleanField(read_only=True)
    organizations = OrganizationRoleSerializer(many=True, read_only=True)
    projects = ProjectRoleSerializer(many=True, read_only=True)

    class Meta(UserSummarySerializer.Meta):
        fields = [*UserSummarySerializer.Meta.fields, "is_staff", "is_superuser", "organizations", "projects"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(max_length=100, required=False)

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "created_at"]
        read_only_fields = ["id", "created_at"]

    def create(self, validated_data):
        request = _request(self)
        return services.organization_create(actor=request.user, request=request, **validated_data)

    def update(self, instance, validated_data):
        request = _request(self)
        return services.organization_update(
            actor=request.user, organization=instance, request=request, **validated_data
        )


class MemberSerializerBase(serializers.ModelSerializer):
    """A user's membership of a project or organization: added by username or e-mail; afterwards only the role
    changes. Subclasses name the scope field in ``Meta.fields`` and the services to call."""

    scope_field = ""
    user = serializers.CharField(write_only=True, help_text="Username or e-mail address of the user to add.")
    user_detail = UserSummarySerializer(source="user", read_only=True)

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields[self.scope_field].read_only = True
            fields["user"].read_only = True
        return fields

    def create(self, validated_data):
        request = _request(self)
        user = user_get_by_identifier(identifier=validated_data["user"])
        return self.add_member(request, validated_data[self.scope_field], user, validated_data.get("role"))

    def update(self, instance, validated_data):
        if "role" not in validated_data:
            return instance
        return self.set_role(_request(self), instance, validated_data["role"])


class OrganizationMembershipSerializer(MemberSerializerBase):
    scope_field = "organization"
    organization = ScopedPrimaryKeyRelatedField(Organization)

    class Meta:
        model = OrganizationMembership
        validators = []  # uniqueness is the service's job (a 409 with a clear message)
        fields = ["id", "organization", "user", "user_detail", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def add_member(self, request, organization, user, role):
        return services.organization_member_add(
            actor=request.user,
            organization=organization,
            user=user,
            role=role or OrganizationRole.MEMBER,
            request=request,
        )

    def set_role(self, request, membership, role):
        return services.organization_member_set_role(
            actor=request.user, membership=membership, role=role, request=request
        )


class ProjectSerializer(serializers.ModelSerializer):
    organization = ScopedPrimaryKeyRelatedField(Organization)
    slug = serializers.SlugField(max_length=100, required=False)

    class Meta:
        model = Project
        validators = []  # uniqueness is the service's job (a 409 with a clear message)
        fields = ["id", "organization", "name", "slug", "description", "created_at"]
        read_only_fields = ["id", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:  # a project never moves to another organization
            fields["organization"].read_only = True
        return fields

    def create(self, validated_data):
        request = _request(self)
        return services.project_create(actor=request.user, request=request, **validated_data)

    def update(self, instance, validated_data):
        request = _request(self)
        return services.project_update(actor=request.user, project=instance, request=request, **validated_data)


class MembershipSerializer(MemberSerializerBase):
    scope_field = "project"
    project = ScopedPrimaryKeyRelatedField(Project)

    class Meta:
        model = Membership
        validators = []  # uniqueness is the service's job (a 409 with a clear message)
        fields = ["id", "project", "user", "user_detail", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"role": {"required": True}}

    def add_member(self, request, project, user, role):
        return services.membership_create(actor=request.user, project=project, user=user, role=role, request=request)

    def set_role(self, request, membership, role):
        return services.membership_set_role(actor=request.user, membership=membership, role=role, request=request)


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at", "is_active"]

    def create(self, validated_data):
        request = _request(self)
        token, key = services.api_token_create(user=request.user, request=request, **validated_data)
        token.plain_key = key
        return token


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(source="plain_key", read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = [*ApiTokenSerializer.Meta.read_only_fields, "token"]


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_username",
            "action",
            "organization",
            "project",
            "target_type",
            "target_id",
            "target_repr",
            "ip_address",
            "user_agent",
            "data",
        ]
        read_only_fields = fields
