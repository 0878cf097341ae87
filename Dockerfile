# One image for web and workers. The CPU build of torch is pinned in requirements.txt;
# for a GPU worker, build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128.
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    FEEDBACK_VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --extra-index-url "$TORCH_INDEX" -r requirements.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput \
    && useradd --create-home feedback && mkdir -p /app/var && chown feedback /app/var
USER feedback
EXPOSE 8000
CMD ["gunicorn", "feedback.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
