// The playground: once a question was asked, move the focus to what the agent would do, so a keyboard or
// screen-reader user meets the result first; asking again stays one Tab back.
(() => {
  "use strict";
  const heading = document.getElementById("result-heading");
  if (heading) heading.focus();
})();
