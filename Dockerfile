FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY . .
# torch first and pinned, then the project with its training extra, then Flower for the dashboard
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir -e '.[train]' flower
ENV PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=webapp.settings
EXPOSE 8000
