"""What each notification says, in Russian (first) and English.

(title, body) per kind and language; fields are filled with str.format, which never re-expands
what it inserts. A Russian text that needs a name in another case asks for it by a format spec,
`{organization:accs}` after «в» (services/notify/grammar.py); the name is stored nominative.
Long user text (an answer, a question) is not here: it travels as `detail`.
"""

from __future__ import annotations

from services.notify.schemas import NotificationKind as K

TEXTS: dict[K, dict[str, tuple[str, str]]] = {
    K.REGISTERED: {
        "ru": (
            "Обращение № {number} зарегистрировано",
            "Обращение № {number} зарегистрировано и направлено в {organization:accs}. "
            "Ответ будет дан до {due_date}.",
        ),
        "en": (
            "Appeal No. {number} registered",
            "Appeal No. {number} has been registered and sent to {organization}. "
            "You will receive an answer by {due_date}.",
        ),
    },
    K.REJECTED: {
        "ru": ("Обращение № {number} отклонено", "Обращение № {number} отклонено: {reason}"),
        "en": ("Appeal No. {number} rejected", "Appeal No. {number} has been rejected: {reason}"),
    },
    K.TRANSFERRED: {
        "ru": (
            "Обращение № {number} передано в другую организацию",
            "Обращение № {number} передано для рассмотрения в {organization:accs}.",
        ),
        "en": (
            "Appeal No. {number} transferred",
            "Appeal No. {number} has been transferred to {organization}.",
        ),
    },
    K.CONTROL_CENTRE: {
        "ru": (
            "Обращение № {number} передано в региональный центр управления",
            "Организации, которым могло быть направлено обращение № {number}, сообщили, что вопрос "
            "не в их ведении. Региональный центр управления определит, кто ответит. "
            "Срок ответа остаётся прежним.",
        ),
        "en": (
            "Appeal No. {number} passed to the regional control centre",
            "The organisations appeal No. {number} could go to said it is not theirs to answer. "
            "The regional control centre will decide who answers. The answer deadline stays the same.",
        ),
    },
    K.TAKEN: {
        "ru": (
            "Обращение № {number} принято в работу",
            "Обращение № {number} принято в работу: {organization}.",
        ),
        "en": (
            "Appeal No. {number} is being worked on",
            "Appeal No. {number} has been taken into work by {organization}.",
        ),
    },
    K.CLARIFICATION_REQUESTED: {
        "ru": (
            "По обращению № {number} нужно уточнение",
            "{organization} просит уточнить обращение № {number}. Ответьте в личном кабинете: "
            "пока ответа нет, срок рассмотрения приостановлен.",
        ),
        "en": (
            "Appeal No. {number} needs a clarification",
            "{organization} asks you to clarify appeal No. {number}. Please reply in your account: "
            "the answer deadline is paused until you do.",
        ),
    },
    K.ANSWERED: {
        "ru": (
            "Получен ответ на обращение № {number}",
            "На обращение № {number} получен ответ ({organization}). Оцените его в личном кабинете: "
            "оценка 1 или 2 вернёт обращение на повторное рассмотрение.",
        ),
        "en": (
            "Appeal No. {number} has been answered",
            "{organization} has answered appeal No. {number}. Please rate the answer in your "
            "account: a rating of 1 or 2 sends the appeal back for re-review.",
        ),
    },
    K.REREVIEW: {
        "ru": (
            "Обращение № {number} направлено на повторное рассмотрение",
            "По вашей оценке обращение № {number} направлено на повторное рассмотрение.",
        ),
        "en": (
            "Appeal No. {number} sent back for re-review",
            "Following your rating, appeal No. {number} has been sent back for re-review.",
        ),
    },
    K.CLOSED: {
        "ru": (
            "Обращение № {number} закрыто",
            "Работа по обращению № {number} завершена. Спасибо, что помогаете сделать жизнь вокруг лучше.",
        ),
        "en": (
            "Appeal No. {number} closed",
            "Work on appeal No. {number} is complete. Thank you for helping to improve things around you.",
        ),
    },
    K.NEW_APPEAL: {
        "ru": (
            "Новое обращение № {number}",
            "Обращение № {number} (тема {topic}) направлено в {organization:accs}. Примите его в работу.",
        ),
        "en": (
            "New appeal No. {number}",
            "Appeal No. {number} (topic {topic}) has been assigned to {organization}. Please take it.",
        ),
    },
    K.CLARIFIED: {
        "ru": (
            "Заявитель уточнил обращение № {number}",
            "Заявитель ответил на запрос уточнения по обращению № {number}; срок рассмотрения снова идёт.",
        ),
        "en": (
            "Appeal No. {number} clarified",
            "The author has answered the clarification request on appeal No. {number}; "
            "the deadline runs again.",
        ),
    },
    K.REREVIEW_TASK: {
        "ru": (
            "Обращение № {number} возвращено на повторное рассмотрение",
            "Заявитель низко оценил ответ на обращение № {number}: подготовьте новый ответ.",
        ),
        "en": (
            "Appeal No. {number} returned for re-review",
            "The author rated the answer to appeal No. {number} low: please prepare a new answer.",
        ),
    },
    K.DUE_SOON: {
        "ru": (
            "Срок по обращению № {number} истекает",
            "{timer} по обращению № {number} истекает {due} (осталось около {hours} ч).",
        ),
        "en": (
            "Appeal No. {number} is due soon",
            "The {timer} for appeal No. {number} is due {due} (about {hours} h left).",
        ),
    },
    K.OVERDUE: {
        "ru": (
            "Просрочено обращение № {number}",
            "{timer} по обращению № {number} истёк {due} ({organization}). Нужно вмешательство руководителя.",
        ),
        "en": (
            "Appeal No. {number} is overdue",
            "The {timer} for appeal No. {number} passed on {due} ({organization}). "
            "A supervisor needs to step in.",
        ),
    },
    K.POLL_OPENED: {
        "ru": (
            "Новое голосование: {title}",
            "{title}: голосование открыто для жителей вашего района до {closes}. "
            "Проголосовать можно в личном кабинете.",
        ),
        "en": (
            "New poll: {title}",
            "{title}: the poll is open to residents of your area until {closes}. You can vote in your account.",
        ),
    },
    K.POLL_RESULTS: {
        "ru": (
            "Итоги голосования: {title}",
            "Голосование «{title}» завершено. Бюллетеней: {ballots}. Итоги — на странице голосования.",
        ),
        "en": (
            "Poll results: {title}",
            "The poll “{title}” has closed. Ballots cast: {ballots}. The results are on the poll's page.",
        ),
    },
    K.POLL_CANCELLED: {
        "ru": (
            "Голосование отменено: {title}",
            "Организация отменила голосование «{title}». Итогов не будет.",
        ),
        "en": (
            "Poll cancelled: {title}",
            "The organisation has cancelled the poll “{title}”. There will be no results.",
        ),
    },
    K.POLL_CLOSED: {
        "ru": (
            "Голосование завершено: {title}",
            "Голосование вашей организации «{title}» завершено. Бюллетеней: {ballots}. Итоги опубликованы.",
        ),
        "en": (
            "Your poll has closed: {title}",
            "Your organisation's poll “{title}” has closed. Ballots cast: {ballots}. The results are published.",
        ),
    },
}

TIMER_LABELS: dict[str, dict[str, str]] = {
    "answer": {"ru": "Срок ответа", "en": "answer deadline"},
    "first_response": {"ru": "Срок первичного ответа", "en": "first-response deadline"},
    "rating_window": {"ru": "Срок оценки", "en": "rating window"},
}

# Used mid-sentence; a body that starts with it is capitalised when built.
UNKNOWN_ORGANIZATION = {"ru": "ответственная организация", "en": "the responsible organisation"}
