/* placeholder: the widget is being written */
