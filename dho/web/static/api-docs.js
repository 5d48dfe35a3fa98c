// Starts Swagger UI on the API page (kept in a file so the page needs no inline script).
window.addEventListener("DOMContentLoaded", function () {
  var node = document.getElementById("swagger-ui");
  if (node && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: node.dataset.spec, domNode: node, deepLinking: true });
  }
});
