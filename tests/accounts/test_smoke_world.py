from accounts.models import Membership, Project


def test_world_roles(world):
    assert set(Membership.objects.filter(project=world.a.project).values_list("role", flat=True)) == {
        "owner",
        "admin",
        "curator",
        "evaluator",
        "viewer",
    }
    assert list(Project.objects.for_user(world.a.user("viewer"))) == [world.a.project]
    assert list(Project.objects.for_user(world.a.org_owner, "delete")) == [world.a.project]
    assert not Project.objects.for_user(world.outsider).exists()
