"""The runner of pipelines (Job.Kind.PIPELINE): each step of the recipe in order (training/pipelines.py).

A succeeded step is skipped (its job id and outputs stay); a step with a child job waits on it (a child
that had failed is resumed once, workers.rounds.await_child); a step that fails records its error and
fails the pipeline's job, which can be resumed from that step.
"""

from __future__ import annotations

import traceback

from training import pipelines
from training.models import Job, PipelineStep
from workers.jobs import Progress, runner
from workers.rounds import await_child


@runner(Job.Kind.PIPELINE)
def run_pipeline(job: Job, progress: Progress) -> str:
    pipeline = pipelines.pipeline_of_job(job.pk)
    rows = pipelines.steps_of(pipeline)
    total = len(rows)
    for k, row in enumerate(rows):
        if row.status == PipelineStep.Status.SUCCEEDED:
            continue
        if not progress(k, total):
            return Job.Status.CANCELLED
        spec = pipelines.step_spec(pipeline, row)
        ctx = pipelines.context(pipeline, spec)
        act = pipelines.ACTIONS[spec.action]
        try:
            pipelines.mark(row, PipelineStep.Status.RUNNING, error="")
            if row.job_id is None:
                started = act.start(ctx)
                if isinstance(started, Job):
                    pipelines.mark(row, PipelineStep.Status.RUNNING, job=started)
                else:
                    pipelines.mark(row, PipelineStep.Status.SUCCEEDED, outputs=started)
                    continue
            assert row.job_id is not None  # started above, or by the run this one resumes
            child = Job.objects.get(pk=row.job_id)

            def beat(step: int = k) -> bool:
                return progress(step, total)

            if await_child(job, child, beat, row.name) != Job.Status.SUCCEEDED:
                pipelines.mark(row, PipelineStep.Status.FAILED, error="cancelled")
                return Job.Status.CANCELLED
            pipelines.mark(row, PipelineStep.Status.SUCCEEDED, outputs=act.collect(ctx, child))
        except Exception as exc:
            pipelines.mark(row, PipelineStep.Status.FAILED, error=f"{exc}\n\n{traceback.format_exc()}"[-10_000:])
            raise
    progress(total, total)
    return Job.Status.SUCCEEDED
