"""factory_boy factories for the app's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotations.models import Item, Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    criteria = factory.LazyFunction(lambda: ["Helpfulness"])
    allow_ties = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    group = "g1"
    source = factory.Iterator(["model-a", "model-b", "model-c"])
    prompt = "Say hello."
    content = factory.Sequence(lambda n: f"Hello number {n}.")
