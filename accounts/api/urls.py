from django.urls import path

from codequal.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("organization-members", views.OrganizationMembershipViewSet, basename="organization-member")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("audit-log", views.AuditLogViewSet, basename="audit-log")

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    *router.urls,
]
