"""The goal service announces every change it makes: the events are written by whoever calls
it, with the goal as the API answers it, not by the router."""

from sqlalchemy import select

from app.core.outbox import Event
from app.goals import service
from app.goals.models import Goal
from app.goals.schemas import GoalCreate, GoalUpdate, StepCreate, StepUpdate
from tests.factories import principal_of


async def _events(db) -> list[tuple[str, dict]]:
    db.expunge_all()
    rows = await db.execute(select(Event.type, Event.payload).order_by(Event.sequence))
    return [(type_, payload) for type_, payload in rows]


async def test_the_goal_service_announces_a_new_goal_as_it_answers_it(client, world, db):
    body = GoalCreate(client_id=world.client.id, title="Walk daily", steps=["Shoes by the door"])
    created = await service.create_goal(db, principal_of(world.therapist), body)
    await db.commit()
    assert await _events(db) == [("goal.created", created.model_dump(mode="json"))]


async def test_the_goal_service_announces_changes_steps_and_deletion(client, world, db):
    body = GoalCreate(client_id=world.client.id, title="Walk daily")
    goal_id = (await service.create_goal(db, principal_of(world.therapist), body)).id
    goal = await db.get(Goal, goal_id)
    achieved = await service.update_goal(db, goal, GoalUpdate(status="achieved"))
    step = await service.add_step(db, goal, StepCreate(title="Buy shoes"))
    await service.update_step(db, goal, step, StepUpdate(title="Buy good shoes"))
    await service.delete_step(db, goal, step)
    await service.delete_goal(db, goal)
    await db.commit()
    events = await _events(db)
    assert [type_ for type_, _ in events] == [
        "goal.created",
        "achievement.earned",
        "goal.updated",
        "goal.achieved",
        "goal.updated",
        "goal.updated",
        "goal.updated",
        "goal.deleted",
    ]
    assert events[3][1] == achieved.model_dump(mode="json")
    assert events[-1][1] == {"id": str(goal_id), "deleted": True}
