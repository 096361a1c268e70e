"""Page-number pagination that refuses, rather than silently clamps, a bad page_size."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class ApiPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_page_message = (
        "Invalid page {page_number!r}: {message}. Pages start at 1; follow the 'next' link."
    )

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"must be an integer from 1 to {self.max_page_size}; got {raw!r}."]}
            )
        return size
