"""A reusable tenant test mixin for a scoped viewset: 401 anonymous, 403 without the role, 404 for another tenant's
object, lists show only the caller's tenant."""

import pytest
from django.urls import reverse

from accounts.choices import ProjectRole


class TenantViewSetChecks:
    """Subclasses set ``basename`` (the router's), ``write`` ((method, route suffix) that needs the evaluator role)
    and ``make(world)`` (an object of tenant A)."""

    basename: str
    write: tuple[str, str]

    def make(self, world):
        raise NotImplementedError

    def _list(self):
        return reverse(f"{self.basename}-list")

    def _detail(self, obj, suffix="detail"):
        return reverse(f"{self.basename}-{suffix}", kwargs={"pk": obj.pk})

    def _write(self, api, obj):
        method, suffix = self.write
        return getattr(api, method)(self._detail(obj, suffix), {}, format="json")

    @pytest.mark.django_db
    def test_anonymous_gets_401(self, api, world):
        obj = self.make(world)
        assert api.get(self._list()).status_code == 401
        assert api.get(self._detail(obj)).status_code == 401
        assert self._write(api, obj).status_code == 401

    @pytest.mark.django_db
    def test_a_viewer_reads_but_without_the_role_may_not_write(self, api, world):
        obj = self.make(world)
        api.force_authenticate(world.a.user(ProjectRole.VIEWER))
        assert api.get(self._detail(obj)).status_code == 200
        response = self._write(api, obj)
        assert response.status_code == 403, response.content
        assert type(obj).objects.filter(pk=obj.pk).exists()

    @pytest.mark.django_db
    def test_another_tenants_object_is_404(self, api, world):
        obj = self.make(world)
        api.force_authenticate(world.b.user(ProjectRole.OWNER))
        assert api.get(self._detail(obj)).status_code == 404
        response = self._write(api, obj)
        assert response.status_code == 404 and response.json()["message"] == "Not found."

    @pytest.mark.django_db
    def test_lists_show_only_the_callers_tenant(self, api, world):
        obj = self.make(world)
        api.force_authenticate(world.a.user(ProjectRole.VIEWER))
        assert obj.pk in {row["id"] for row in api.get(self._list()).json()["results"]}
        api.force_authenticate(world.b.user(ProjectRole.VIEWER))
        assert obj.pk not in {row["id"] for row in api.get(self._list()).json()["results"]}
        own = api.get(f"{self._list()}?project={world.a.project.pk}").json()
        assert own["count"] == 0
